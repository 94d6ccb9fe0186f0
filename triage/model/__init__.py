"""The node model: records (one data stream each, with an id and a parent) and locators."""
