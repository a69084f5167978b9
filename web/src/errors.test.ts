import { describe, expect, it } from 'vitest';
import { checkName, createStoreError, requestError } from './errors';

describe('createStoreError', () => {
  it('puts each typed error on the field it concerns', () => {
    expect(createStoreError({ __typename: 'NameTaken', message: 'taken', name: 'shop' })).toEqual({
      field: 'name', message: 'A store named “shop” already exists: choose another name.',
    });
    expect(
      createStoreError({ __typename: 'ValidationError', message: 'A store name starts with a letter.', field: 'name', rule: 'start' }),
    ).toEqual({ field: 'name', message: 'A store name starts with a letter.' });
    expect(createStoreError({ __typename: 'QuotaExceeded', message: 'quota', limit: 3 })).toEqual({
      field: 'form', message: 'You already have 3 stores, the most you may have: delete one to create another.',
    });
    expect(
      createStoreError({ __typename: 'UnknownEngine', message: 'No engine "x".', engine: 'x', known: ['woocommerce'] }),
    ).toEqual({ field: 'engine', message: 'No engine "x". Known engines: woocommerce.' });
  });

  it('is null on success', () => {
    expect(createStoreError({ __typename: 'CreateStoreSuccess' } as never)).toBeNull();
  });
});

describe('requestError', () => {
  it('says signed out for a 401 and unreachable for a network error', () => {
    expect(requestError({ message: 'x', response: { status: 401 } })).toBe('You are signed out: sign in again.');
    expect(requestError({ message: '[Network] Failed to fetch', networkError: new Error('x') })).toMatch(/cannot be reached/);
    expect(requestError({ message: '[GraphQL] Query too deep' })).toBe('Query too deep');
  });
});

describe('checkName', () => {
  it('applies the server’s name rules before submit', () => {
    expect(checkName('')).toBe('A store name is required.');
    expect(checkName('Shop')).toMatch(/lowercase/);
    expect(checkName('shop_1')).toMatch(/found '_'/);
    expect(checkName('1shop')).toMatch(/starts with a letter/);
    expect(checkName('shop-')).toMatch(/ends with/);
    expect(checkName('admin')).toMatch(/reserved/);
    expect(checkName('a'.repeat(41))).toMatch(/at most 40/);
    expect(checkName('my-shop-2')).toBeNull();
  });
});
