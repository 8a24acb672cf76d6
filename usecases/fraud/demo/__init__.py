"""The fraud demo: `rtloop demo` replays the book's weeks through the loop and prints what it measured."""
