//! Multi-process cluster test harness (issue 8). Empty until the server exists.
