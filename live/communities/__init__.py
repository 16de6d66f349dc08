"""Communities: roles, invitations, join requests, groups, announcements, posts."""
