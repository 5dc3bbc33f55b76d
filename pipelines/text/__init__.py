"""The text_rendering dataset's pure logic: line rules and filters, glyph and position images, captions."""
