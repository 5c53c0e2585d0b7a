"""Generation: latent-space tools, post-processing, shape files, HTML strips and export of a trained generator."""
