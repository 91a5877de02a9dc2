//! WIP (being written).
