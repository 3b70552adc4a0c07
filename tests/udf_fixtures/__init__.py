"""Real modules of functions and planner parts that the udfs/planner tests name by reference."""
