'use strict';
throw new Error('exploded at import');
