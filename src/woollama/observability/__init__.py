"""What woollama shows about itself: access log, metrics, recent requests, status."""
