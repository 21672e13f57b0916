import { describe, expect, it } from 'vitest';
import { styleFor } from '../../../src/ui/output.js';

// The expected strings are what chalk 5 at level 1 printed for the same calls, which this module replaced.
describe('styleFor', () => {
  it('is the identity when colour is off', () => {
    const style = styleFor(false);
    for (const paint of [style.bold, style.dim, style.green, style.red, style.yellow, style.cyan])
      expect(paint('a\nb')).toBe('a\nb');
  });

  it('wraps text in the basic SGR codes when colour is on', () => {
    const style = styleFor(true);
    expect(style.bold('a')).toBe('\u001b[1ma\u001b[22m');
    expect(style.dim('a')).toBe('\u001b[2ma\u001b[22m');
    expect(style.green('a')).toBe('\u001b[32ma\u001b[39m');
    expect(style.red('a')).toBe('\u001b[31ma\u001b[39m');
    expect(style.yellow('a')).toBe('\u001b[33ma\u001b[39m');
    expect(style.cyan('a')).toBe('\u001b[36ma\u001b[39m');
    expect(style.bold('')).toBe('');
  });

  it('closes and re-opens the style around line breaks, as chalk does', () => {
    const style = styleFor(true);
    expect(style.bold('a\nb')).toBe('\u001b[1ma\u001b[22m\n\u001b[1mb\u001b[22m');
    expect(style.green('a\r\nb')).toBe('\u001b[32ma\u001b[39m\r\n\u001b[32mb\u001b[39m');
  });

  it('re-opens the outer style after an inner close of the same kind', () => {
    const style = styleFor(true);
    expect(style.dim(`x${style.bold('y')}z`)).toBe('\u001b[2mx\u001b[1my\u001b[22m\u001b[2mz\u001b[22m');
    expect(style.green(`x${style.bold('y')}z`)).toBe('\u001b[32mx\u001b[1my\u001b[22mz\u001b[39m');
  });
});
