"""Tests of the built-in metric sources against real files, processes and servers."""
