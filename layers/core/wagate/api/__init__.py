"""The HTTPS API: Powertools routers that parse requests, call one service and map the result."""
