"""The media relay: pass-through SFU on aiortc/PyAV, WHIP/WHEP, workers, recording, thumbnails."""
