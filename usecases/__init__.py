"""Use cases: one declaration each (`<name>/usecase.yaml`), and beside it what is that use case's own."""
