"""Evaluation: eval sets, scoring answers, the LLM judge and its calibration, the promotion gate,
promotion, and eval cases proposed from user feedback."""
