"""Reading and writing formats: XState, diagrams, reports."""
