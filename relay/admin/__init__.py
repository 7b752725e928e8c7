"""Admin commands: the config file, `relay config`, `relay check`, `relay send-test`."""
