"""One Litestar controller per resource; each handler translates HTTP to one api call."""
