"""The training engine: the one loop (step functions plugged in, AMP, DDP, checkpoint/resume,
progress), distributed set-up, final training, evaluation and latency profiling."""
