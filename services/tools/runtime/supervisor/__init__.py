"""The supervisor of `rtloop up`: the whole loop as local processes, restarted on crash, the scorer scaled
on Kafka lag with the numbers of its KEDA ScaledObject."""
