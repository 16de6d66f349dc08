"""Live sessions: the live tab, hosts, the stage, and the grace period of a lost host."""
