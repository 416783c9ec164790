//! Shared pieces of the FAASIN benchmarks: nothing to see, the benches are in
//! `benches/` (criterion) and the report script in `report.py`.
