console.log('giving up at import');
process.exit(7);

exports.handle = () => 'never';
