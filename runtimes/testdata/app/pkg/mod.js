'use strict';
// Conformance fixture: nested handler (FAAS_HANDLER=pkg.mod.handle). Logs at load time on
// stdout, which check mode must keep off its stdout.

console.log('pkg.mod imported');

exports.handle = (event, context) => ({ nested: true, module: 'pkg.mod' });
