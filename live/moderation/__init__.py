"""Moderation: actions and sanctions, the member-visible log, reports, appeals, insights."""
