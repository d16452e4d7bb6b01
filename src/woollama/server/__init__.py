"""Assembling the app and putting it on the socket and the loopback port."""
