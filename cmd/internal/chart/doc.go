// Package chart draws line charts of percentages over time as SVG, for the
// dashboard: no JavaScript, no fonts beyond the page's, deterministic bytes
// (golden-tested).
//
// It is a leaf: it imports the standard library only.
package chart
