'use strict';
// Conformance fixture: an async function handler (FAAS_HANDLER=aio.handle).

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

exports.handle = async (event, context) => {
  if (event.path === '/error') {
    await sleep(0);
    throw new Error('async-boom');
  }
  await sleep(500);
  return { async: true, path: event.path, request_id: context.request_id };
};
