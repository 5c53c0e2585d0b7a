"""Training: the GAN and its one train_step, the builder, precision and distribution, the loop, checkpoints,
callbacks, monitoring and the run folder."""
