"""Process plumbing of long runs: the single writer process of bulk loads (`writer`) and the
memory tuning of every long-running process (`memory`). Light on purpose: the writer's process
imports only what loading needs."""
