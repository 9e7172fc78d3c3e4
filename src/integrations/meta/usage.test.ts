import { describe, expect, it } from 'vitest';
import { readUsage, REGAIN_MARGIN_MS, throttleDelayMs, UsagePacer, type Usage } from './usage.js';

/** Header values as Meta sends them (reference/destinations.md §2.6). */
const APP = '{"call_count":28,"total_time":25,"total_cputime":25}';
const BUSINESS = '{"1234567890":[{"type":"custom_audience","call_count":10,"total_cputime":5,"total_time":5,"estimated_time_to_regain_access":0,"ads_api_access_tier":"standard_access"}]}';
const ACCOUNT = '{"acc_id_util_pct":9.67,"reset_time_duration":100,"ads_api_access_tier":"standard_access"}';

describe('meta usage headers', () => {
  it('reads all three headers and reports the highest percentage', () => {
    const usage = readUsage({ 'x-app-usage': APP, 'x-business-use-case-usage': BUSINESS, 'x-ad-account-usage': ACCOUNT });
    expect(usage.maxPct).toBe(28);
    expect(usage.regainAccessMs).toBeUndefined();
    expect(usage.detail).toEqual({
      app: { callCount: 28, totalTime: 25, totalCputime: 25 },
      businessUseCases: [{ businessId: '1234567890', type: 'custom_audience', callCount: 10, totalCputime: 5, totalTime: 5, estimatedTimeToRegainAccess: 0, accessTier: 'standard_access' }],
      adAccount: { utilPct: 9.67, resetTimeDuration: 100, accessTier: 'standard_access' },
      unreadable: [],
    });
  });

  it('takes the regain time from the business use-case header, in minutes', () => {
    const business = '{"1":[{"type":"ads_management","call_count":40,"total_time":1,"total_cputime":1,"estimated_time_to_regain_access":0}],"2":[{"type":"custom_audience","call_count":100,"total_cputime":30,"total_time":20,"estimated_time_to_regain_access":7}]}';
    const usage = readUsage({ 'X-Business-Use-Case-Usage': business });
    expect(usage.maxPct).toBe(100);
    expect(usage.regainAccessMs).toBe(7 * 60_000);
    expect(readUsage({ 'x-business-use-case-usage': business }, { regainAccessUnitMs: 1_000 }).regainAccessMs).toBe(7_000);
  });

  it('counts only the chosen use-case types when asked', () => {
    const business = '{"1":[{"type":"ads_insights","call_count":99},{"type":"custom_audience","call_count":20}]}';
    expect(readUsage({ 'x-business-use-case-usage': business }).maxPct).toBe(99);
    expect(readUsage({ 'x-business-use-case-usage': business }, { useCaseTypes: ['custom_audience'] }).maxPct).toBe(20);
  });

  it('reads an exhausted ad account reset time as the regain time, in seconds', () => {
    const usage = readUsage({ 'x-ad-account-usage': '{"acc_id_util_pct":100,"reset_time_duration":90}' });
    expect(usage).toMatchObject({ maxPct: 100, regainAccessMs: 90_000 });
    expect(readUsage({ 'x-ad-account-usage': ACCOUNT }).regainAccessMs).toBeUndefined();
  });

  it('accepts numbers sent as strings', () => {
    expect(readUsage({ 'x-app-usage': '{"call_count":"81","total_time":"3","total_cputime":"x"}' }).detail.app).toEqual({ callCount: 81, totalTime: 3, totalCputime: undefined });
  });

  it('never throws on missing or garbled headers, and names the garbled ones', () => {
    expect(readUsage({})).toEqual({ maxPct: undefined, regainAccessMs: undefined, detail: { businessUseCases: [], unreadable: [] } });
    const garbled = readUsage({ 'x-app-usage': '{"call_count":', 'x-business-use-case-usage': '[1,2]', 'x-ad-account-usage': 'null', 'content-type': 'application/json' });
    expect(garbled.maxPct).toBeUndefined();
    expect(garbled.detail.unreadable).toEqual(['x-app-usage', 'x-business-use-case-usage', 'x-ad-account-usage']);
    const odd = readUsage({ 'x-business-use-case-usage': '{"1":"busy","2":[null,7,{"call_count":-5,"estimated_time_to_regain_access":"soon"}],"3":{"call_count":12}}' });
    expect(odd.maxPct).toBe(12);
    expect(odd.regainAccessMs).toBeUndefined();
  });
});

describe('meta pacing', () => {
  it('waits nothing below the threshold', () => {
    expect(throttleDelayMs({ maxPct: undefined, regainAccessMs: undefined })).toBe(0);
    expect(throttleDelayMs({ maxPct: 74.9, regainAccessMs: undefined })).toBe(0);
    expect(throttleDelayMs({ maxPct: 75, regainAccessMs: undefined })).toBe(0);
  });

  it('grows along the documented square towards the cap', () => {
    expect(throttleDelayMs({ maxPct: 80, regainAccessMs: undefined })).toBe(12_000);
    expect(throttleDelayMs({ maxPct: 90, regainAccessMs: undefined })).toBe(108_000);
    expect(throttleDelayMs({ maxPct: 95, regainAccessMs: undefined })).toBe(192_000);
    expect(throttleDelayMs({ maxPct: 100, regainAccessMs: undefined })).toBe(300_000);
    expect(throttleDelayMs({ maxPct: 140, regainAccessMs: undefined })).toBe(300_000);
    expect(throttleDelayMs({ maxPct: 90, regainAccessMs: undefined }, { thresholdPct: 50, maxDelayMs: 10_000 })).toBe(6_400);
  });

  it('never waits less as usage rises, and never more than the cap', () => {
    for (const options of [{}, { thresholdPct: 0, maxDelayMs: 1_000 }, { thresholdPct: 99, maxDelayMs: 60_000 }]) {
      let previous = 0;
      for (let pct = 0; pct <= 120; pct += 0.25) {
        const delay = throttleDelayMs({ maxPct: pct, regainAccessMs: undefined }, options);
        expect(delay).toBeGreaterThanOrEqual(previous);
        expect(delay).toBeLessThanOrEqual(options.maxDelayMs ?? 300_000);
        previous = delay;
      }
    }
  });

  it("waits Meta's regain time when Meta gives one, and a moment more", () => {
    expect(throttleDelayMs({ maxPct: 100, regainAccessMs: 420_000 })).toBe(420_000 + REGAIN_MARGIN_MS);
    expect(throttleDelayMs({ maxPct: 30, regainAccessMs: 60_000 })).toBe(60_000 + REGAIN_MARGIN_MS);
    expect(throttleDelayMs({ maxPct: 100, regainAccessMs: 0 })).toBe(300_000);
  });

  it('paces from real headers end to end', () => {
    const usage = readUsage({ 'x-app-usage': '{"call_count":90,"total_time":10,"total_cputime":10}' });
    expect(throttleDelayMs(usage)).toBe(108_000);
  });
});

describe('meta pacing of concurrent uploads', () => {
  const at = (maxPct: number, regainAccessMs?: number): Usage => ({ maxPct, regainAccessMs, detail: { businessUseCases: [], unreadable: [] } });
  const times = (ms: number) => ({ sentAt: ms, answeredAt: ms });
  const tick = () => new Promise((resolve) => setImmediate(resolve));

  it('lets uploads go side by side while usage asks for no wait', async () => {
    const pacer = new UsagePacer();
    expect(pacer.waitMs(0)).toBe(0);
    pacer.record(at(40), times(1_000));
    const [a, b] = await Promise.all([pacer.takeTurn(), pacer.takeTurn()]);
    expect(a && b).toBeTruthy();
    expect(pacer.waitMs(1_000)).toBe(0);
  });

  it('while pacing, an upload waits for the one before it to be answered and paces on that answer', async () => {
    const pacer = new UsagePacer();
    pacer.record(at(80), times(0));
    // 12 s later both would see the wait over and go together, past the quota.
    expect(pacer.waitMs(12_000)).toBe(0);
    const first = await pacer.takeTurn();
    let isSecondIn = false;
    const second = pacer.takeTurn().then((turn) => ((isSecondIn = true), turn));
    await tick();
    expect(isSecondIn).toBe(false);
    pacer.record(at(90), times(12_000));
    first?.release();
    expect(await second).toBeDefined();
    expect(pacer.waitMs(12_000)).toBe(108_000);
  });

  it('gives up a place in line when the attempt ends, keeping the order of the rest', async () => {
    const pacer = new UsagePacer();
    pacer.record(at(95), times(0));
    const first = await pacer.takeTurn();
    const controller = new AbortController();
    const second = pacer.takeTurn(controller.signal);
    let isThirdIn = false;
    const third = pacer.takeTurn().then((turn) => ((isThirdIn = true), turn));
    controller.abort();
    expect(await second).toBeUndefined();
    await tick();
    expect(isThirdIn).toBe(false);
    first?.release();
    expect(await third).toBeDefined();
  });

  it('keeps the usage of the call sent last, whatever order the answers come in, and counts from its answer', () => {
    const pacer = new UsagePacer();
    pacer.record(at(90), { sentAt: 2_000, answeredAt: 2_500 });
    pacer.record(at(80), { sentAt: 1_000, answeredAt: 3_000 });
    expect(pacer.last?.usage.maxPct).toBe(90);
    expect(pacer.waitMs(2_500)).toBe(108_000);
  });

  it('waits out Meta\'s regain time from the answer that gave it', () => {
    const pacer = new UsagePacer();
    pacer.record(at(100, 60_000), { sentAt: 0, answeredAt: 500 });
    expect(pacer.waitMs(500)).toBe(60_000 + REGAIN_MARGIN_MS);
    expect(pacer.waitMs(60_500)).toBe(REGAIN_MARGIN_MS);
    expect(pacer.waitMs(61_500)).toBe(0);
  });
});
