"""Safety across communities: blocking, platform operators, account reports and suspensions."""
