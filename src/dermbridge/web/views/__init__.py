"""Pages. Views parse the request, check permission, call one service, render."""
