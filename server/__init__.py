"""pingyi (评议): anonymous QR-coded appraisal voting and points leaderboards.

The application factory is server/app.py (the composition root)."""
