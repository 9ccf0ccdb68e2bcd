//! Hand-written scenarios: the demo table, lake-only partitions, spills, concurrency.
