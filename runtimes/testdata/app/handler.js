'use strict';
// Conformance fixture: one handler, behaviour chosen by event.path (service and job mode).

console.error('fixture handler.js loaded');

exports.handle = function handle(event, context) {
  switch (event.path || '/') {
    case '/echo':
      // statusCode + non-string body: JSON-encoded; the method also comes back in a header so
      // that HEAD requests (no body) can be checked.
      return { statusCode: 200, headers: { 'x-event-method': event.method }, body: { event, context } };
    case '/ret/str':
      return 'hello ✓';
    case '/ret/bytes':
      return Buffer.from([0x00, 0x01, 0xff, ...Buffer.from('binary')]);
    case '/ret/bytearray':
      return new Uint8Array([0xfe, 0xff]);
    case '/ret/dict':
      return { a: 1, b: [true, null] };
    case '/ret/list':
      return [1, 'two', 3.5];
    case '/ret/number':
      return 42;
    case '/ret/bool':
      return true;
    case '/ret/none':
      return null;
    case '/ret/undefined':
      return undefined;
    case '/status':
      return {
        statusCode: 201,
        headers: { 'X-Single': 'one', 'X-Multi': ['a', 'b'], 'Set-Cookie': ['c=1', 'd=2'] },
        body: 'created',
      };
    case '/status/content-type':
      return { statusCode: 202, headers: { 'Content-Type': 'text/csv' }, body: 'a,b\n' };
    case '/status/empty':
      return { statusCode: 204 };
    case '/status/json':
      return { statusCode: 404, body: { missing: true } };
    case '/status/base64':
      return { statusCode: 200, body: Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x00, 0xff]).toString('base64'), is_base64: true };
    case '/status/base64-typed':
      return { statusCode: 200, headers: { 'content-type': 'image/png' }, body: Buffer.from([0x89, 0x50, 0x4e, 0x47]).toString('base64'), is_base64: true };
    case '/error':
      throw new RangeError('boom');
    case '/error/string':
      throw 'oops'; // eslint-disable-line no-throw-literal
    case '/error/unserialisable':
      return { x: 10n };
    case '/error/bad-status':
      return { statusCode: '200' };
    case '/error/bad-header':
      return { statusCode: 200, headers: { 'x-evil': 'a\r\nInjected: yes' } };
    case '/error/rejected':
      return Promise.reject(new Error('rejected'));
    case '/print':
      // Job mode: the response document must still be the last line of stdout.
      console.log('log line 1');
      process.stdout.write('partial line without newline');
      return 'printed';
    default:
      return { unknown_path: event.path };
  }
};
