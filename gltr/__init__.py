"""gltr: the GLTR model (Li et al., ICCV 2019): frame backbones, DTP, TSA."""
