import { settleAll } from '../../src/runtime/settle';

describe('settleAll', () => {
  it('returns every value in order', async () => {
    const delay = <T>(ms: number, v: T) => new Promise<T>((r) => setTimeout(() => r(v), ms));
    await expect(settleAll([delay(20, 'a'), delay(1, 2)])).resolves.toEqual(['a', 2]);
  });

  it('waits for the slow tasks, then throws the failure earliest in the list, not the fastest', async () => {
    let slowDone = false;
    const slow = new Promise<void>((r) => setTimeout(() => { slowDone = true; r(); }, 30));
    const first = Promise.reject(new Error('first'));
    const second = new Promise((_, j) => setTimeout(() => j(new Error('second')), 5));
    await expect(settleAll([slow, second, first])).rejects.toThrow('second');
    expect(slowDone).toBe(true);
  });
});
