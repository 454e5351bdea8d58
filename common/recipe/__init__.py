"""The stage kit: what every competition's stages share (command line, run settings, stage timer,
process lifetime, registry-name checks, the Kaggle submit line)."""
