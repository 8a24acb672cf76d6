"""I/O of the training job: labels from Kafka, ModelVersion publishing."""
