//! Bad input gets a typed error naming what is wrong, and loses nothing.
