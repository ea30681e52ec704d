'use strict';
// Conformance fixture: a syntax error must fail at start.
exports.handle = function (event, context {
  return 'never';
};
