"""Class rooms: a teacher's room code, its roster, the challenges the server checks."""
