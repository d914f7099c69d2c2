"""One Powertools router per capability."""
