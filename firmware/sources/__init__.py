"""Sources of raw samples: HX711 boards, the simulated platform, a replayed recording."""
