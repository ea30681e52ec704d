'use strict';
require('faas-conformance-no-such-module');

exports.handle = () => 'never';
