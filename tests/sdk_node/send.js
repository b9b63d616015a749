// Sends every record type the Node SDK has to the collector URL in argv[2] for user argv[3],
// then waits until its queue is drained. Exit code 1 if any request failed.
const SensorsAnalytics = require('sa-sdk-node');

const [url, user] = process.argv.slice(2);
const sa = new SensorsAnalytics();
const submitter = sa.submitTo({ url, gzip: true, mode: 'track', timeout: 5000 }, { count: 4 });
const queue = submitter.dataQueue;
const onSucceeded = queue.onSucceeded;
const onError = queue.onError;
let batches = 0;
queue.onSucceeded = (result) => { batches += 1; onSucceeded(result); };
queue.onError = (error) => { console.error(error.message); process.exitCode = 1; onError(error); };

sa.track(user, 'RecClick', { scenario_id: 'home_feed', item_id: 'i-9', $ip: '8.8.8.8' });
sa.track(user, 'ViewItem', { price: 3 });
sa.trackSignup(`${user}-login`, user, { channel: 'ad' });
sa.profileSet(user, { city: 'Berlin' });
sa.profileSetOnce(user, { first_seen: '2026-11-01' });
sa.profileIncrement(user, { visits: 1 });
sa.profileAppend(user, { likes: ['books'] });
sa.profileUnset(user, ['city']);
sa.itemSet('book', 'b-2', { price: 4 });
sa.itemDelete('book', 'b-2');
sa.onCompleted();  // flushes the partial batch

(function waitUntilDrained() {
  if (!queue.executing && !queue.hasData) {
    console.log(JSON.stringify({ batches }));
    return;
  }
  setTimeout(waitUntilDrained, 20);
})();
