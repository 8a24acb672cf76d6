"""rtloop services: independent streaming processes that share only topics, contracts and common."""
