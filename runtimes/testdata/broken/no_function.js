'use strict';
exports.somethingElse = () => 'wrong name';
exports.handle_not_callable = 42;
