"""Networks: G, D and the encoder, the one-channel conv layers, losses, the latent sampler, model statistics."""
